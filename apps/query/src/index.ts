export { createQueryApp } from "./app";
export type { QueryDeps } from "./app";
export { queryConfigSchema } from "./config";
export type { QueryConfig } from "./config";
export { composeQuery } from "./compose";
