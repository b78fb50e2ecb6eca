// Dev-only OpenID Connect provider for the Tenantry local stack.
//
// Issuer http://127.0.0.1:9000. Passwords are checked by an LDAP simple bind over LDAPS against
// the stack's Samba AD; claims come from the user's directory entry, read as the service account.
// Started by dev/stack, which copies this file next to its node_modules under $TENANTRY_STACK_DIR.
// Never use it outside the local stack: it accepts any loopback redirect URI for its clients.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parse as parseQuery } from 'node:querystring';

import Provider from 'oidc-provider';
import { Client as LdapClient, InvalidCredentialsError, EqualityFilter, AndFilter } from 'ldapts';

const STACK_DIR = process.env.TENANTRY_STACK_DIR || '/var/lib/tenantry-stack';
const STATE_DIR = process.env.IDP_STATE_DIR || join(STACK_DIR, 'idp');
const HOST = '127.0.0.1';
const PORT = Number(process.env.IDP_PORT || 9000);
const ISSUER = process.env.OIDC_ISSUER || `http://${HOST}:${PORT}`;
const LDAPS_URL = process.env.LDAPS_URL || 'ldaps://127.0.0.1:636';
const BASE_DN = process.env.LDAP_BASE_DN || 'DC=corp,DC=example,DC=com';
const UPN_SUFFIX = process.env.AD_UPN_SUFFIX || 'corp.example.com';
const CA_FILE = process.env.STACK_CA || join(STACK_DIR, 'ca', 'ca.crt');
const BIND_DN = process.env.LDAP_BIND_DN || `CN=svc-tenantry,CN=Users,${BASE_DN}`;
const BIND_PASSWORD_FILE = process.env.LDAP_BIND_PASSWORD_FILE || join(STACK_DIR, 'secrets', 'ldap-bind-password');
const CLIENT_SECRET_FILE = process.env.OIDC_CLIENT_SECRET_FILE || join(STACK_DIR, 'secrets', 'oidc-client-secret');
const JWKS_FILE = join(STATE_DIR, 'jwks.json');
const COOKIE_KEYS_FILE = join(STATE_DIR, 'cookie-keys.json');

const log = (...args) => console.log(new Date().toISOString(), ...args);

// ---------------------------------------------------------------------------------------------
// Persistent key material

function writePrivateJson(file, value) {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function loadJwks() {
  if (!existsSync(JWKS_FILE)) writePrivateJson(JWKS_FILE, { keys: [newSigningKey()] });
  return JSON.parse(readFileSync(JWKS_FILE, 'utf8'));
}

function loadCookieKeys() {
  if (!existsSync(COOKIE_KEYS_FILE)) writePrivateJson(COOKIE_KEYS_FILE, [randomBytes(32).toString('base64url')]);
  return JSON.parse(readFileSync(COOKIE_KEYS_FILE, 'utf8'));
}

const readSecret = (file) => readFileSync(file, 'utf8').trim();

// ---------------------------------------------------------------------------------------------
// Directory access

class DirectoryUnavailable extends Error {}

const caPem = () => readFileSync(CA_FILE);

function ldapClient() {
  return new LdapClient({
    url: LDAPS_URL,
    timeout: 15000,
    connectTimeout: 10000,
    tlsOptions: { ca: [caPem()], minVersion: 'TLSv1.2' },
  });
}

// sAMAccountName characters only: nothing that could change the meaning of a UPN or a filter.
const USERNAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const USER_ATTRIBUTES = [
  'objectGUID', 'sAMAccountName', 'userPrincipalName', 'mail', 'displayName', 'givenName', 'sn',
  'memberOf', 'userAccountControl',
];

// AD stores objectGUID with its first three fields little-endian (the .NET Guid layout).
function guidToUuid(buf) {
  const h = Buffer.from(buf).toString('hex');
  const swap = (s) => s.match(/../g).reverse().join('');
  return [swap(h.slice(0, 8)), swap(h.slice(8, 12)), swap(h.slice(12, 16)), h.slice(16, 20), h.slice(20)].join('-');
}

function uuidToGuid(uuid) {
  const h = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(h)) return undefined;
  const swap = (s) => s.match(/../g).reverse().join('');
  return Buffer.from(swap(h.slice(0, 8)) + swap(h.slice(8, 12)) + swap(h.slice(12, 16)) + h.slice(16), 'hex');
}

// The value of the first RDN of a DN ("CN=tenant1-admins,CN=Users,..." -> "tenant1-admins").
function firstRdnValue(dn) {
  let value = '';
  let i = dn.indexOf('=') + 1;
  for (; i < dn.length; i += 1) {
    const c = dn[i];
    if (c === '\\' && i + 1 < dn.length) {
      const hex = dn.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) { value += String.fromCharCode(parseInt(hex, 16)); i += 2; } else { value += dn[i + 1]; i += 1; }
    } else if (c === ',' || c === '+') {
      break;
    } else {
      value += c;
    }
  }
  return value;
}

const asArray = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const first = (v) => asArray(v)[0];

function claimsFromEntry(entry) {
  return {
    sub: guidToUuid(first(entry.objectGUID)),
    preferred_username: String(first(entry.sAMAccountName)),
    upn: first(entry.userPrincipalName),
    email: first(entry.mail),
    email_verified: true,
    name: first(entry.displayName),
    given_name: first(entry.givenName),
    family_name: first(entry.sn),
    groups: asArray(entry.memberOf).map(String).map(firstRdnValue),
  };
}

const isDisabled = (entry) => (Number(first(entry.userAccountControl)) & 2) !== 0;

// Search as the service account; one entry or undefined. Network and TLS trouble -> DirectoryUnavailable.
async function findUser(filter) {
  const client = ldapClient();
  try {
    await client.bind(BIND_DN, readSecret(BIND_PASSWORD_FILE));
    const { searchEntries } = await client.search(BASE_DN, {
      scope: 'sub',
      filter: new AndFilter({ filters: [new EqualityFilter({ attribute: 'objectClass', value: 'user' }), filter] }),
      attributes: USER_ATTRIBUTES,
      explicitBufferAttributes: ['objectGUID'],
      sizeLimit: 2,
    });
    return searchEntries.length === 1 ? searchEntries[0] : undefined;
  } catch (err) {
    throw new DirectoryUnavailable(`directory search failed: ${err.message}`, { cause: err });
  } finally {
    await client.unbind().catch(() => {});
  }
}

// Returns claims, or undefined for a wrong password / unknown or disabled user.
async function authenticate(username, password) {
  if (!USERNAME_RE.test(username) || !password || password.length > 256) return undefined;
  const client = ldapClient();
  try {
    // An empty password would be an unauthenticated bind that "succeeds": rejected above.
    await client.bind(`${username}@${UPN_SUFFIX}`, password);
  } catch (err) {
    if (err instanceof InvalidCredentialsError) return undefined;
    throw new DirectoryUnavailable(`bind failed: ${err.message}`, { cause: err });
  } finally {
    await client.unbind().catch(() => {});
  }
  const entry = await findUser(new EqualityFilter({ attribute: 'sAMAccountName', value: username }));
  if (!entry || isDisabled(entry)) return undefined;
  return claimsFromEntry(entry);
}

// Claims by sub, fresh from the directory; the login-time copy if the directory is down.
const loginClaims = new Map();

async function claimsForSub(sub) {
  const guid = uuidToGuid(sub);
  if (!guid) return undefined;
  try {
    const entry = await findUser(new EqualityFilter({ attribute: 'objectGUID', value: guid }));
    if (!entry || isDisabled(entry)) return undefined;
    const claims = claimsFromEntry(entry);
    loginClaims.set(sub, claims);
    return claims;
  } catch (err) {
    log('claims lookup failed, using login-time claims:', err.message);
    return loginClaims.get(sub);
  }
}

// ---------------------------------------------------------------------------------------------
// Storage shared by every Provider instance of this process. The built-in memory adapter keeps
// one store per instance, which would drop sessions and refresh tokens on a key rotation.

const store = new Map(); // "Model:id" -> { payload, expiresAt }
const grantMembers = new Map(); // grantId -> Set of store keys

function live(key) {
  const hit = store.get(key);
  if (!hit) return undefined;
  if (hit.expiresAt !== undefined && hit.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return hit.payload;
}

class SharedMemoryAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload: { ...payload }, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, expiresAt: store.get(key).expiresAt });
    if (payload.uid) store.set(`uid:${this.model}:${payload.uid}`, { payload: id, expiresAt: store.get(key).expiresAt });
  }

  async find(id) { return live(this.key(id)); }

  async findByUserCode(userCode) {
    const id = live(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = live(`uid:${this.model}:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) || []) store.delete(key);
    grantMembers.delete(grantId);
  }
}

setInterval(() => {
  for (const key of store.keys()) live(key);
  for (const [grantId, keys] of grantMembers) {
    for (const key of keys) if (!store.has(key)) keys.delete(key);
    if (keys.size === 0) grantMembers.delete(grantId);
  }
}, 10 * 60 * 1000).unref();

// ---------------------------------------------------------------------------------------------
// The provider

const FIRST_PARTY = new Set(['tenantry', 'other-client']);

function isLoopbackUrl(value, pathOk) {
  let url;
  try { url = new URL(value); } catch { return false; }
  return url.protocol === 'http:'
    && (url.hostname === '127.0.0.1' || url.hostname === 'localhost')
    && url.username === '' && url.password === '' && url.search === '' && url.hash === ''
    && pathOk(url.pathname);
}

const devRedirectUri = (v) => isLoopbackUrl(v, (p) => p === '/auth/callback');
const devPostLogoutUri = (v) => isLoopbackUrl(v, (p) => p === '/');

function clients() {
  const common = {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', // client_secret_post is accepted as well
    redirect_uris: ['http://127.0.0.1:8080/auth/callback', 'http://localhost:8080/auth/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1:8080/', 'http://localhost:8080/'],
  };
  return [
    { ...common, client_id: 'tenantry', client_secret: readSecret(CLIENT_SECRET_FILE) },
    { ...common, client_id: 'other-client', client_secret: 'other-secret' },
  ];
}

async function loadExistingGrant(ctx) {
  const { client, session } = ctx.oidc;
  const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
  let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
  if (!FIRST_PARTY.has(client.clientId)) return grant;
  // First-party clients: grant whatever was asked for, so no consent screen ever shows.
  grant ||= new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
  if (ctx.oidc.params?.scope) grant.addOIDCScope(ctx.oidc.params.scope);
  const claims = [...(ctx.oidc.requestParamClaims || [])];
  if (claims.length) grant.addOIDCClaims(claims);
  await grant.save();
  return grant;
}

async function logoutSource(ctx, form) {
  // Sign out without a confirmation click: the form posts itself (with logout=yes).
  const autoForm = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signing out</title></head>
<body><p>Signing out…</p>${autoForm}
<noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript>
<script>document.forms[0].submit()</script></body></html>`;
}

function buildProvider(jwks, cookieKeys) {
  const provider = new Provider(ISSUER, {
    adapter: SharedMemoryAdapter,
    clients: clients(),
    jwks,
    cookies: { keys: cookieKeys },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'upn', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    loadExistingGrant,
    // offline_access is dropped by the spec unless prompt=consent; our first-party clients get a
    // refresh token whenever they may use the grant, and it outlives the IdP session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async (_ctx, token) => !token.scopes.has('offline_access') && !FIRST_PARTY.has(token.clientId),
    async findAccount(_ctx, sub) {
      const claims = await claimsForSub(sub);
      if (!claims) return undefined;
      return { accountId: sub, claims: async () => ({ ...claims }) };
    },
    ttl: {
      AccessToken: 3600, IdToken: 3600, AuthorizationCode: 120, Interaction: 3600, Session: 86400, Grant: 86400 * 14, RefreshToken: 86400 * 14,
    },
  });

  // Any loopback port for this dev provider's own clients: tests start the portal on random ports.
  const { redirectUriAllowed, postLogoutRedirectUriAllowed } = provider.Client.prototype;
  provider.Client.prototype.redirectUriAllowed = function allowed(value) {
    return (FIRST_PARTY.has(this.clientId) && devRedirectUri(value)) || redirectUriAllowed.call(this, value);
  };
  provider.Client.prototype.postLogoutRedirectUriAllowed = function allowed(value) {
    return (FIRST_PARTY.has(this.clientId) && devPostLogoutUri(value)) || postLogoutRedirectUriAllowed.call(this, value);
  };
  provider.on('server_error', (_ctx, err) => log('server_error', err));
  return provider;
}

let jwks = loadJwks();
const cookieKeys = loadCookieKeys();
let provider = buildProvider(jwks, cookieKeys);
let handler = provider.callback();

function rotateKeys() {
  const key = newSigningKey();
  jwks = { keys: [key, ...jwks.keys] };
  writePrivateJson(JWKS_FILE, jwks);
  // A fresh Provider signs with the first key; grants, sessions and tokens live in the shared
  // store and the cookie keys are unchanged, so signed-in users and refresh tokens survive.
  provider = buildProvider(jwks, cookieKeys);
  handler = provider.callback();
  log('rotated signing keys; new kid', key.kid, 'keys published:', jwks.keys.length);
  return key.kid;
}

// ---------------------------------------------------------------------------------------------
// HTTP: the interaction pages, the dev endpoint, and everything else to the provider

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

function sendHtml(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function loginPage(uid, { error, username = '' } = {}) {
  const id = escapeHtml(uid);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in – Tenantry dev IdP</title>
<style>body{font-family:sans-serif;max-width:22rem;margin:4rem auto}label,input,button{display:block;width:100%;margin:.3rem 0}
.error{color:#b00020}</style></head>
<body><h1>Sign in</h1>
<p>CORP.EXAMPLE.COM directory account</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${id}/login" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" type="text" value="${escapeHtml(username)}" autofocus required>
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  const form = parseQuery(Buffer.concat(chunks).toString('utf8'));
  const str = (v) => (typeof v === 'string' ? v : '');
  return { username: str(form.username).trim(), password: str(form.password) };
}

async function finishConsent(req, res, details) {
  const { prompt: { details: missing }, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const result = { consent: { grantId: await grant.save() } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function handleInteraction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return sendHtml(res, 400, '<p>Interaction mismatch</p>');

  if (details.prompt.name === 'consent') return finishConsent(req, res, details);

  if (action === undefined && req.method === 'GET') return sendHtml(res, 200, loginPage(uid));
  if (action !== 'login' || req.method !== 'POST') return sendHtml(res, 405, '<p>Method not allowed</p>');

  const { username, password } = await readForm(req);
  let claims;
  try {
    claims = await authenticate(username, password);
  } catch (err) {
    if (!(err instanceof DirectoryUnavailable)) throw err;
    log('login: directory unavailable:', err.message);
    return sendHtml(res, 503, loginPage(uid, { error: 'Directory unavailable', username }));
  }
  if (!claims) {
    log('login failed for', JSON.stringify(username));
    return sendHtml(res, 401, loginPage(uid, { error: 'Invalid username or password', username }));
  }
  loginClaims.set(claims.sub, claims);
  log('login ok for', claims.preferred_username, claims.sub);
  return provider.interactionFinished(req, res, { login: { accountId: claims.sub } }, { mergeWithLastSubmission: false });
}

const server = createServer(async (req, res) => {
  try {
    const { pathname } = new URL(req.url, ISSUER);
    const m = pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?\/?$/);
    if (m) return await handleInteraction(req, res, m[1], m[2]);
    if (pathname === '/__dev/rotate-keys') {
      if (req.method !== 'POST') return sendHtml(res, 405, '<p>POST only</p>');
      const kid = rotateKeys();
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ kid, keys: jwks.keys.map((k) => k.kid) }));
    }
    if (pathname === '/__dev/health') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('ok\n');
    }
    return handler(req, res);
  } catch (err) {
    log('request failed:', req.method, req.url, err);
    if (!res.headersSent) {
      const status = err.statusCode || err.status || 500;
      sendHtml(res, status, `<p>${escapeHtml(err.error_description || err.message || 'error')}</p>`);
    } else {
      res.end();
    }
  }
});

server.listen(PORT, HOST, () => log(`dev IdP listening on http://${HOST}:${PORT} (issuer ${ISSUER})`));

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)).closeAllConnections());
}
