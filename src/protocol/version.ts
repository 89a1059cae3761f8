/**
 * The wire protocol's version. Every message carries it; a peer that speaks another version
 * is refused with a message saying both versions, never misread.
 */
export const PROTOCOL_VERSION = 1;
