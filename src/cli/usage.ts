/** A command line the CLI cannot use (unknown command or flag, missing argument): exit 2, as POSIX tools do. */
export class UsageError extends Error {}

/** The exit code of a usage error; an invalid config or a failure at run time exits 1. */
export const USAGE_EXIT = 2;
