// The tests' OpenID provider: panva's oidc-provider (OpenID Certified) on 127.0.0.1, run by
// tests/support/oidc_provider.py. argv[2]: a JSON file {port, clients: [...], accounts: {login: claims}}.
// Logins use the provider's own interaction pages (any password; the login names an account of the file).
// Prints "ready <issuer>" once listening.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${settings.port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-signing-key', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: settings.clients,
  jwks: { keys: [jwk] },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  pkce: { required: () => true },
  conformIdTokenClaims: false, // the claims of the scopes asked for in the ID token too, as the dashboard reads them there
  ttl: { IdToken: settings.id_token_ttl || 3600 },
  async findAccount(ctx, id) {
    const claims = settings.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  // The dev interactions' consent grants what the client asks for; no consent page for the test client
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email groups');
    grant.addOIDCClaims(['preferred_username', 'name', 'email', 'groups']);
    await grant.save();
    return grant;
  },
});
provider.listen(settings.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
