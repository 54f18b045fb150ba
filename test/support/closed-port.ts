/**
 * A loopback port nothing listens on. A port taken from the system and released is free for the
 * next bind, and a test running beside may take it (the request then meets that server); port 1
 * is below 1024, which no test binds.
 */
export const CLOSED_PORT = 1;
