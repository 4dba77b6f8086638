import { z } from "zod";

/** An RFC 3339 timestamp with a zone (`Z` or an offset), kept as a string: it is stored and sent as JSON. */
export const Timestamp = z.iso.datetime({ offset: true });

/** An amount in the currency's minor unit (cents): integers only, never floats. */
export const MinorAmount = z.number().int().nonnegative();

/** ISO 4217 code, e.g. `EUR`. */
export const Currency = z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as EUR");

export const Id = z.string().min(1);
