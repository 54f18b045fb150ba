import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the fake Secrets Manager received it. */
export interface SecretsManagerRequest {
  target: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface StoredSecret {
  name: string;
  arn: string;
  secretString: string;
  versionId: string;
  createdDate: Date;
}

export interface FakeSecretsManager {
  url: string;
  requests: SecretsManagerRequest[];
  /** Creates a secret or stores a new version of it. */
  putSecret(name: string, secretString: string, options?: { createdDate?: Date }): void;
  deleteSecret(name: string): void;
  /** The secret's full ARN, with the random suffix AWS appends to the name. */
  arn(name: string): string;
  /** Reads of this secret answer AccessDeniedException, as an IAM policy without the permission would. */
  denyAccess(name: string): void;
  /**
   * Every request answers this status with an InternalServiceError until called with undefined; or
   * with `text` as it is, as a proxy in front of the service answers (an HTML 502, a plain 429).
   */
  failWith(status: number | undefined, text?: { contentType: string; body: string }): void;
  /** While true, requests are taken and never answered, as by a manager that hangs. */
  hang(on: boolean): void;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

function fail(res: ServerResponse, status: number, type: string, message: string): void {
  send(res, status, { __type: type, message });
}

/**
 * AWS Secrets Manager speaking the JSON 1.1 protocol as the SDK sends it. Requests must carry a
 * SigV4 authorization header for `accessKeyId`; the signature itself is not checked.
 */
export async function startFakeSecretsManager(options: { accessKeyId: string }): Promise<FakeSecretsManager> {
  const requests: SecretsManagerRequest[] = [];
  const secrets = new Map<string, StoredSecret>();
  const denied = new Set<string>();
  let failure: number | undefined;
  let failureText: { contentType: string; body: string } | undefined;
  let hanging = false;

  function find(id: string): StoredSecret | undefined {
    return secrets.get(id) ?? [...secrets.values()].find((secret) => secret.arn === id);
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const target = header(req, 'x-amz-target');
    requests.push({ target, headers: req.headers, body });
    if (hanging) return;
    if (failure !== undefined && failureText) {
      res.writeHead(failure, { 'content-type': failureText.contentType });
      res.end(failureText.body);
      return;
    }
    if (failure !== undefined) {
      fail(
        res,
        failure,
        'InternalServiceError',
        'An error occurred on the server side (ddb-shard-9 timeout).',
      );
      return;
    }
    if (!header(req, 'authorization').startsWith(`AWS4-HMAC-SHA256 Credential=${options.accessKeyId}/`)) {
      fail(res, 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
      return;
    }
    if (req.method !== 'POST' || !header(req, 'content-type').startsWith('application/x-amz-json-1.1')) {
      fail(res, 400, 'SerializationException', 'Unexpected request format.');
      return;
    }
    if (target !== 'secretsmanager.GetSecretValue') {
      fail(res, 400, 'UnknownOperationException', 'Unknown operation.');
      return;
    }
    let input: { SecretId?: unknown };
    try {
      input = JSON.parse(body) as typeof input;
    } catch {
      fail(res, 400, 'SerializationException', 'Malformed JSON.');
      return;
    }
    if (typeof input.SecretId !== 'string') {
      fail(res, 400, 'InvalidParameterException', 'SecretId is required.');
      return;
    }
    const secret = find(input.SecretId);
    if (secret && denied.has(secret.name)) {
      fail(
        res,
        400,
        'AccessDeniedException',
        `User: arn:aws:iam::${ACCOUNT}:user/keyward is not authorized to perform: ` +
          `secretsmanager:GetSecretValue on resource: ${input.SecretId}`,
      );
      return;
    }
    if (!secret) {
      fail(res, 400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      return;
    }
    send(res, 200, {
      ARN: secret.arn,
      Name: secret.name,
      SecretString: secret.secretString,
      VersionId: secret.versionId,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: secret.createdDate.getTime() / 1000,
    });
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let stopped = false;

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    putSecret(name, secretString, putOptions = {}) {
      const suffix = randomUUID().slice(0, 6);
      const arn =
        secrets.get(name)?.arn ?? `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${suffix}`;
      secrets.set(name, {
        name,
        arn,
        secretString,
        versionId: randomUUID(),
        createdDate: putOptions.createdDate ?? new Date(),
      });
    },
    deleteSecret(name) {
      secrets.delete(name);
    },
    arn(name) {
      const secret = secrets.get(name);
      if (!secret) throw new Error(`no secret ${name}`);
      return secret.arn;
    },
    denyAccess(name) {
      denied.add(name);
    },
    failWith(status, text) {
      failure = status;
      failureText = text;
    },
    hang(on) {
      hanging = on;
    },
    stop,
    close: stop,
  };
}
