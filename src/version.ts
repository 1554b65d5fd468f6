/** This build's version (the build writes it in; 0.1.0 when run from source). */
export const VERSION = process.env.DISPATCH_VERSION ?? '0.1.0';
