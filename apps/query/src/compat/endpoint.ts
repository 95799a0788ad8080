/**
 * Endpoints whose handlers receive the request already typed from its JSON schema: `T` is the
 * schema's `FromSchema` type (declared beside the schema in ./schemas). The helpers live with the
 * edge that validates against exactly that schema (http/endpoint.ts).
 */
export { getEndpoint, postEndpoint } from "../http/endpoint";
