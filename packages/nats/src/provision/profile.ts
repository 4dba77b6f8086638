import type { StreamInfo } from "@slotwise/events";
import { versionAtLeast } from "../connection/server-version.js";
import type { NatsTransport } from "../transport/nats-transport.js";

/** DESIGN "Guarantees": replicated streams (R3) on a current server. */
export const PRODUCTION_MIN_REPLICAS = 3;
export const PRODUCTION_MIN_SERVER_VERSION = "2.10.0";

export type ProfileFindingCode =
  | "SERVER_TOO_OLD"
  | "NOT_CLUSTERED"
  | "REPLICAS_BELOW_PROFILE"
  | "SYNC_UNVERIFIED";

export interface ProfileFinding {
  /** "warning": the production profile is not met; "info": cannot be checked from here. */
  level: "warning" | "info";
  code: ProfileFindingCode;
  message: string;
  stream?: string;
}

export interface ProfileReport {
  serverVersion: string;
  clustered: boolean;
  /** True when no finding is a warning. */
  meetsProfile: boolean;
  findings: ProfileFinding[];
}

export interface ProfileInput {
  serverVersion: string;
  clustered: boolean;
  streams: readonly Pick<StreamInfo, "name" | "replicas">[];
}

/**
 * Compares what the server reports with the production profile. Returns findings as data (a single dev
 * node is a fine place to run, it just is not production); never throws.
 */
export function checkProductionProfile(input: ProfileInput): ProfileReport {
  const findings: ProfileFinding[] = [];
  if (!versionAtLeast(input.serverVersion, PRODUCTION_MIN_SERVER_VERSION)) {
    findings.push({
      level: "warning",
      code: "SERVER_TOO_OLD",
      message: `nats-server ${input.serverVersion} is older than ${PRODUCTION_MIN_SERVER_VERSION}; run a current release in production`,
    });
  }
  if (!input.clustered) {
    findings.push({
      level: "warning",
      code: "NOT_CLUSTERED",
      message: "the server is standalone: streams cannot be replicated",
    });
  }
  for (const s of input.streams) {
    if (s.replicas < PRODUCTION_MIN_REPLICAS) {
      findings.push({
        level: "warning",
        code: "REPLICAS_BELOW_PROFILE",
        stream: s.name,
        message: `stream ${s.name} has ${s.replicas} replica(s); production wants ${PRODUCTION_MIN_REPLICAS}`,
      });
    }
  }
  // The client cannot read the server's fsync setting.
  findings.push({
    level: "info",
    code: "SYNC_UNVERIFIED",
    message:
      "sync_interval cannot be read from a client; production wants `jetstream { sync_interval: always }`",
  });
  return {
    serverVersion: input.serverVersion,
    clustered: input.clustered,
    meetsProfile: findings.every((f) => f.level !== "warning"),
    findings,
  };
}

/** Reads the server version and the named streams, then checks them; a missing stream is skipped. */
export async function checkNatsProfile(
  transport: NatsTransport,
  streams: readonly string[],
): Promise<ProfileReport> {
  const infos: StreamInfo[] = [];
  for (const name of streams) {
    const info = await transport.streamInfo(name);
    if (info !== undefined) infos.push(info);
  }
  return checkProductionProfile({
    serverVersion: transport.serverVersion(),
    clustered: Boolean(transport.connection.info?.cluster),
    streams: infos,
  });
}
