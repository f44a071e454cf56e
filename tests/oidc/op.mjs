// A real OpenID Provider (oidc-provider, OpenID certified) on loopback for the single sign-on tests.
//
// Configured only from the environment, so each test run gets its own port, client and accounts:
//   OP_PORT               port on 127.0.0.1; the issuer is http://127.0.0.1:$OP_PORT
//   OP_CLIENT_ID          the one confidential client
//   OP_CLIENT_SECRET
//   OP_REDIRECT_URIS      JSON list of the client's exact redirect URIs
//   OP_TOKEN_AUTH_METHOD  token endpoint auth method, client_secret_basic unless set
//   OP_ACCOUNTS           JSON object: login name -> that account's claims ({"alice": {"sub": ...}});
//                         sub defaults to the login name
// Prints one line "READY <issuer>" on stdout once listening; exits 0 on SIGTERM.
import { randomBytes } from 'node:crypto';
import { text } from 'node:stream/consumers';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`op.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

function json(name) {
  const raw = required(name);
  try {
    return JSON.parse(raw);
  } catch (error) {
    console.error(`op.mjs: ${name} is not valid JSON: ${error.message}`);
    process.exit(2);
  }
}

const port = Number(required('OP_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const accounts = json('OP_ACCOUNTS');
const subOf = (login) => accounts[login].sub ?? login;
const claimsBySub = new Map(
  Object.keys(accounts).map((login) => [subOf(login), { ...accounts[login], sub: subOf(login) }]),
);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: required('OP_CLIENT_ID'),
      client_secret: required('OP_CLIENT_SECRET'),
      redirect_uris: json('OP_REDIRECT_URIS'),
      token_endpoint_auth_method: process.env.OP_TOKEN_AUTH_METHOD || 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  // Confidential clients are exempt by default; Bastion always sends S256, so hold it to that.
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'oid', 'tid'],
  },
  // Okta and Entra ID put the scopes' claims in the ID token of the code flow; by default
  // oidc-provider keeps them for userinfo whenever an access token is issued.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  async findAccount(ctx, sub) {
    const claims = claimsBySub.get(sub);
    return claims && { accountId: sub, async claims() { return claims; } };
  },
});

// The dev login form hands over whatever was typed as the account id, and oidc-provider makes
// the account id the `sub`. So a login is answered here: a known login name signs in as its
// account's sub; an unknown one gets the login form again, as a real OP would.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path)) {
    return next();
  }
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch {
    return next(); // an expired or unknown interaction: the provider's own error page
  }
  if (details.prompt.name !== 'login') {
    return next();
  }
  const login = new URLSearchParams(await text(ctx.req)).get('login') ?? '';
  if (!Object.hasOwn(accounts, login)) {
    ctx.status = 303;
    ctx.redirect(ctx.path);
    return undefined;
  }
  const result = { login: { accountId: subOf(login) } };
  return provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
