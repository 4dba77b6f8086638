import { ErrorCode, isSlotwiseError, SlotwiseError, type SlotwiseErrorOptions } from "../errors/index.js";

/**
 * A command refused by a domain invariant. `code` is always DOMAIN_RULE_VIOLATED (stable across packages
 * and the wire); `rule` is the domain's own code, e.g. `BOOKING_ALREADY_CANCELLED`, and travels in
 * `details.rule`. Domains subclass it to narrow `rule` to their own codes.
 */
export class DomainError extends SlotwiseError {
  readonly rule: string;

  constructor(rule: string, message: string, options: SlotwiseErrorOptions = {}) {
    super(ErrorCode.DOMAIN_RULE_VIOLATED, message, { ...options, details: { rule, ...options.details } });
    this.name = "DomainError";
    this.rule = rule;
  }
}

/** True for a domain rule violation (of `rule`, when given), also after a trip over the wire. */
export function isDomainError(err: unknown, rule?: string): err is SlotwiseError {
  if (!isSlotwiseError(err, ErrorCode.DOMAIN_RULE_VIOLATED)) return false;
  // An error rebuilt from JSON may lack `details`: read it defensively.
  const details = (err as { details?: { rule?: unknown } }).details;
  return rule === undefined || details?.rule === rule;
}
