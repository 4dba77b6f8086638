import {
  assertEnvironment,
  dlqStreamNameFor,
  dlqSubjectFor,
  streamNameFor,
  streamSubjectFor,
} from "../envelope/naming.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import type { StreamConfig, StreamInfo, Transport } from "./transport.js";

/** A domain is the first word of an event type: lower case, kebab-case. */
const DOMAIN = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

export interface StreamsForEnvironmentsOptions {
  /** e.g. `["dev", "staging", "prod"]`. */
  environments: readonly string[];
  /** e.g. `["auth", "booking", "payment"]`. */
  domains: readonly string[];
  /** 1 on one node, 3 in a cluster (the production profile). @default 1 */
  replicas?: number;
  /** Keep it at least as long as the relay's longest publish retry. @default 120000 */
  duplicateWindowMs?: number;
  /** @default "file" */
  storage?: "file" | "memory";
  /** 0 keeps messages forever. @default 0 */
  maxAgeMs?: number;
}

/**
 * The streams of a deployment, as data: one `{ENV}_{DOMAIN}` per environment and domain capturing
 * `{env}.{domain}.>`, and one `{ENV}_DLQ` per environment capturing `dlq.{env}.>`.
 */
export function streamsForEnvironments(options: StreamsForEnvironmentsOptions): StreamConfig[] {
  const { environments, domains } = options;
  if (environments.length === 0) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "at least one environment is required", {
      details: { environments },
    });
  }
  const common = {
    replicas: options.replicas ?? 1,
    duplicateWindowMs: options.duplicateWindowMs ?? 120_000,
    storage: options.storage ?? "file",
    maxAgeMs: options.maxAgeMs ?? 0,
  } as const;
  const names = new Set<string>();
  const out: StreamConfig[] = [];
  const add = (config: StreamConfig) => {
    if (names.has(config.name)) {
      throw new SlotwiseError(ErrorCode.DUPLICATE_NAME, `stream ${config.name} would be defined twice`, {
        details: { stream: config.name },
      });
    }
    names.add(config.name);
    out.push(config);
  };
  for (const env of environments) {
    assertEnvironment(env);
    for (const domain of domains) {
      if (!DOMAIN.test(domain)) {
        throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `domain must be lower case, got "${domain}"`, {
          details: { domain },
        });
      }
      add({ name: streamNameFor(env, domain), subjects: [streamSubjectFor(env, domain)], ...common });
    }
    add({ name: dlqStreamNameFor(env), subjects: [dlqSubjectFor(`${env}.>`)], ...common });
  }
  return out;
}

/** Creates or updates each stream in turn; stops at the first failure, naming the stream. */
export async function provisionStreams(
  transport: Transport,
  configs: readonly StreamConfig[],
): Promise<StreamInfo[]> {
  const infos: StreamInfo[] = [];
  for (const config of configs) infos.push(await transport.ensureStream(config));
  return infos;
}
