// The logged-in user, as the pages see it.
import { createContext, useContext } from "react";
import type { Role, Session } from "./api/types";

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a logged-in page");
  return session;
}

const RANK: Record<Role, number> = { guard: 0, installer: 1, admin: 2 };

export function hasRole(session: Session, needed: Role): boolean {
  return RANK[session.role] >= RANK[needed];
}
