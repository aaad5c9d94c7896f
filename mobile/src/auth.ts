// Sign-in against central: OAuth2 authorization code with PKCE (expo-auth-session), tokens in the platform's
// secure storage (expo-secure-store; the web build keeps them in sessionStorage), refresh, logout (revocation).
import * as AuthSession from "expo-auth-session";
import * as SecureStore from "expo-secure-store";
import { Platform } from "react-native";

export const CLIENT_ID = "vigia-mobile";
export const SCOPES = ["devices:read", "events:read", "verdicts:read", "clips:read", "alerts:read", "alerts:write"];
const KEY = "vigia.signin";

export type Stored = { central: string; access: string; refresh: string; expiresAt: number };

export function discovery(central: string): AuthSession.DiscoveryDocument {
  return {
    authorizationEndpoint: `${central}/dashboard/oauth/authorize`,
    tokenEndpoint: `${central}/oauth/token`,
    revocationEndpoint: `${central}/oauth/revoke`,
  };
}

export function redirectUri(): string {
  return AuthSession.makeRedirectUri({ scheme: "vigia.app", path: "auth" });
}

export async function load(): Promise<Stored | null> {
  const text = Platform.OS === "web" ? globalThis.sessionStorage?.getItem(KEY) ?? null : await SecureStore.getItemAsync(KEY);
  return text ? (JSON.parse(text) as Stored) : null;
}

export async function save(stored: Stored | null): Promise<void> {
  if (Platform.OS === "web") {
    if (stored) globalThis.sessionStorage?.setItem(KEY, JSON.stringify(stored));
    else globalThis.sessionStorage?.removeItem(KEY);
  } else if (stored) await SecureStore.setItemAsync(KEY, JSON.stringify(stored));
  else await SecureStore.deleteItemAsync(KEY);
}

function stored(central: string, token: AuthSession.TokenResponse): Stored {
  return { central, access: token.accessToken, refresh: token.refreshToken ?? "",
           expiresAt: (token.issuedAt + (token.expiresIn ?? 900)) * 1000 };
}

export async function exchange(central: string, code: string, verifier: string): Promise<Stored> {
  const token = await AuthSession.exchangeCodeAsync(
    { clientId: CLIENT_ID, code, redirectUri: redirectUri(), extraParams: { code_verifier: verifier } }, discovery(central));
  return stored(central, token);
}

/** New tokens for the refresh token (rotated); null when central refuses it (revoked, expired). */
export async function refresh(current: Stored): Promise<Stored | null> {
  try {
    const token = await AuthSession.refreshAsync({ clientId: CLIENT_ID, refreshToken: current.refresh },
                                                 discovery(current.central));
    return stored(current.central, token);
  } catch {
    return null;
  }
}

/** Logout: central revokes the sign-in (and forgets this phone's push token); the tokens leave the phone. */
export async function signOut(current: Stored): Promise<void> {
  try {
    await AuthSession.revokeAsync({ clientId: CLIENT_ID, token: current.refresh }, discovery(current.central));
  } finally {
    await save(null);
  }
}
