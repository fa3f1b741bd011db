/** The units of the virtual clock, and the kinds of event on the simulator's queue. */

export const HOUR = 3_600_000
export const DAY: number = 24 * HOUR

// Event kinds.
export const K_PUBLISH = 1
export const K_DISCOVER = 2
export const K_ANSWER = 3
export const K_TICK = 4
export const K_APPROVE = 5
export const K_EVIDENCE = 6
export const K_DRAIN = 7
export const K_LEAVE = 8
export const K_JOIN = 9
export const K_SAMPLE = 10
export const K_FALSE_REPORT = 11
export const K_ECLIPSE_CONTACT = 12
export const K_ECLIPSE_SUSPECT = 13
export const K_LIAR_CONTACT = 14
export const K_LEAK_CRASH = 15
export const K_CALIBRATE = 16
export const K_REVOKE = 17
export const K_REVOKED = 18
