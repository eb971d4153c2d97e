// The two Node globals walk.ts uses (no @types/node download for two lines).
declare const process: { argv: string[]; exit(code: number): never };
