/** What liveness answers (GET /healthz): API Gateway's MOCK on AWS and the local cloud serve this body. */
export const LIVENESS = { ready: true } as const;
