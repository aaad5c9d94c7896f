// The offline state: the last feed kept on the phone, and actions (acknowledge, comment) queued until central
// answers. A queued action that central refuses (4xx) is dropped with its error; a network failure keeps it.
import AsyncStorage from "@react-native-async-storage/async-storage";

import { ApiError, CentralApi, OfflineError } from "./api/client";
import type { Alert, Event } from "./api/types";

const FEED = "vigia.feed";
const QUEUE = "vigia.queue";

export type Feed = { alerts: Alert[]; events: Event[]; savedAt: number };
export type Action = { kind: "ack"; alertId: number } | { kind: "comment"; alertId: number; body: string };

export async function saveFeed(feed: Feed): Promise<void> {
  await AsyncStorage.setItem(FEED, JSON.stringify(feed));
}

export async function lastFeed(): Promise<Feed | null> {
  const text = await AsyncStorage.getItem(FEED);
  return text ? (JSON.parse(text) as Feed) : null;
}

export async function queued(): Promise<Action[]> {
  const text = await AsyncStorage.getItem(QUEUE);
  return text ? (JSON.parse(text) as Action[]) : [];
}

export async function enqueue(action: Action): Promise<void> {
  await AsyncStorage.setItem(QUEUE, JSON.stringify([...(await queued()), action]));
}

async function run(api: CentralApi, action: Action): Promise<void> {
  if (action.kind === "ack") await api.acknowledge(action.alertId);
  else await api.comment(action.alertId, action.body);
}

/** Do an action now, or queue it when the network is down; true when central took it. */
export async function perform(api: CentralApi, action: Action): Promise<boolean> {
  try {
    await run(api, action);
    return true;
  } catch (error) {
    if (error instanceof OfflineError) {
      await enqueue(action);
      return false;
    }
    throw error;
  }
}

/** Send the queued actions in order; stops at the first network failure. Returns the errors of refused ones. */
export async function flush(api: CentralApi): Promise<string[]> {
  const pending = await queued();
  const refused: string[] = [];
  let sent = 0;
  for (const action of pending) {
    try {
      await run(api, action);
    } catch (error) {
      if (error instanceof OfflineError) break;
      if (!(error instanceof ApiError) || error.status === 401) break;
      refused.push(error.message);
    }
    sent += 1;
  }
  await AsyncStorage.setItem(QUEUE, JSON.stringify(pending.slice(sent)));
  return refused;
}

export async function clearAll(): Promise<void> {
  await AsyncStorage.multiRemove([FEED, QUEUE]);
}
