import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';

/** One AssumeRole the local STS answered: what the caller asked for (tests read the tags). */
export interface AssumedSession {
  roleArn: string;
  sessionName: string;
  tags: Record<string, string>;
  expiration: Date;
}

export interface LocalSts {
  endpoint: string;
  /** Every session handed out, oldest first. */
  sessions(): readonly AssumedSession[];
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;
const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const sendXml = (res: ServerResponse, status: number, body: string) => {
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
};

const sendError = (res: ServerResponse, status: number, code: string, message: string) =>
  sendXml(
    res,
    status,
    `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  );

const readBody = (req: IncomingMessage): Promise<string | undefined> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

/** `Tags.member.N.Key` / `Tags.member.N.Value` of the query protocol, as a record. */
const tagsOf = (form: URLSearchParams): Record<string, string> => {
  const tags: Record<string, string> = {};
  for (let n = 1; form.has(`Tags.member.${n}.Key`); n++) tags[form.get(`Tags.member.${n}.Key`)!] = form.get(`Tags.member.${n}.Value`) ?? '';
  return tags;
};

/**
 * A stand-in for STS on loopback, enough for the gateway's tenant credentials: `AssumeRole` over
 * the query protocol answers temporary credentials for the duration asked (900–43200 s) and records
 * the session's tags. It enforces nothing (neither the role's trust policy nor, in the emulators,
 * the role's permissions): IAM is checked by the template tests, not locally.
 */
export const startLocalSts = async (options: { accountId: string; now?: () => number }): Promise<LocalSts> => {
  const now = options.now ?? Date.now;
  const sessions: AssumedSession[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST') return sendError(res, 405, 'InvalidAction', 'STS accepts POST only');
      const body = await readBody(req);
      if (body === undefined) return sendError(res, 413, 'ValidationError', 'request body too large');
      const form = new URLSearchParams(body);
      const action = form.get('Action');
      if (action !== 'AssumeRole') return sendError(res, 400, 'InvalidAction', `the local STS answers AssumeRole only, not ${action ?? 'nothing'}`);
      const roleArn = form.get('RoleArn') ?? '';
      const sessionName = form.get('RoleSessionName') ?? '';
      const duration = Number(form.get('DurationSeconds') ?? 3600);
      const role = /^arn:[^:]+:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/.exec(roleArn);
      if (!role) return sendError(res, 400, 'ValidationError', 'RoleArn is not an IAM role ARN');
      if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) return sendError(res, 400, 'ValidationError', 'RoleSessionName is invalid');
      if (!Number.isInteger(duration) || duration < 900 || duration > 43_200) {
        return sendError(res, 400, 'ValidationError', 'DurationSeconds must be 900 to 43200');
      }
      const session: AssumedSession = { roleArn, sessionName, tags: tagsOf(form), expiration: new Date(now() + duration * 1000) };
      sessions.push(session);
      const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
      sendXml(
        res,
        200,
        `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult>` +
          `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${randomBytes(20).toString('base64url')}</SecretAccessKey>` +
          `<SessionToken>${randomBytes(32).toString('base64url')}</SessionToken><Expiration>${session.expiration.toISOString()}</Expiration></Credentials>` +
          `<AssumedRoleUser><Arn>arn:aws:sts::${options.accountId}:assumed-role/${xmlEscape(role[1]!)}/${xmlEscape(sessionName)}</Arn>` +
          `<AssumedRoleId>AROA${randomBytes(8).toString('hex').toUpperCase()}:${xmlEscape(sessionName)}</AssumedRoleId></AssumedRoleUser>` +
          `<PackedPolicySize>${Object.keys(session.tags).length}</PackedPolicySize>` +
          `</AssumeRoleResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      );
    })().catch(() => {
      if (!res.headersSent) sendError(res, 400, 'ValidationError', 'malformed request');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    sessions: () => sessions,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
