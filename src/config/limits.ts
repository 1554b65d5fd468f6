// Bounds on durations the config gives, shared by the schema (which refuses more) and the code that
// does arithmetic with them (which must not overflow a Date or a timer whatever state it is handed).

/** A spec expected to take more than a week is a typo (or 1e308): `simulate` would end past any date. */
export const MAX_ESTIMATE_MINUTES = 7 * 24 * 60;

/** A cooldown longer than a day is a typo; past 2^31 ms a timer fires at once, so it would mean none. */
export const MAX_COOLDOWN_SECONDS = 24 * 60 * 60;
