// @slotwise/booking — the reference booking domain: SlotWise's event contracts and the booking aggregate.
export * from "./booking/index.js";
export * from "./contracts/index.js";
