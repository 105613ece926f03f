/** Where `npm start` listens unless told otherwise (bin/local.ts), and so what the token CLI signs for by default. */
export const LOCAL_DEFAULT_HOST = '127.0.0.1';
export const LOCAL_DEFAULT_PORT = 3000;
export const DEFAULT_BASE_URL = `http://${LOCAL_DEFAULT_HOST}:${LOCAL_DEFAULT_PORT}`;
