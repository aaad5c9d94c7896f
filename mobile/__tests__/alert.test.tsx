import AsyncStorage from "@react-native-async-storage/async-storage";
import { fireEvent, render, screen, waitFor } from "@testing-library/react-native";

import { textsFor } from "../src/i18n";
import { flush, queued } from "../src/offline";
import { AlertScreen } from "../src/screens/AlertScreen";
import { FakeCentral } from "../test-support/fakeCentral";

const colors = { background: "#fff", card: "#fff", text: "#000", muted: "#666", accent: "#00f", danger: "#f00",
                 ok: "#0a0", border: "#ccc" };

beforeEach(async () => { await AsyncStorage.clear(); });

test("acknowledge and comment go to central, and the alert shows who acknowledged it", async () => {
  const central = new FakeCentral();
  render(<AlertScreen api={central.api()} id={7} texts={textsFor("en-US")} colors={colors} />);
  fireEvent.press(await screen.findByTestId("acknowledge"));
  expect(await screen.findByTestId("acked")).toHaveTextContent("Acknowledged: otto");
  fireEvent.changeText(screen.getByTestId("comment-input"), "on my way");
  fireEvent.press(screen.getByTestId("comment-send"));
  expect(await screen.findByText("otto: on my way")).toBeTruthy();
  expect(central.requests.filter((r) => r.method === "POST").map((r) => [r.path, r.body]))
    .toEqual([["/alerts/7/ack", undefined], ["/alerts/7/comments", { body: "on my way" }]]);
});

test("offline, an acknowledge is queued and sent when the network is back", async () => {
  const central = new FakeCentral();
  render(<AlertScreen api={central.api()} id={7} texts={textsFor("en")} colors={colors} />);
  const button = await screen.findByTestId("acknowledge");
  central.down = true;
  fireEvent.press(button);
  expect(await screen.findByTestId("note")).toHaveTextContent("1 action(s) waiting for the network");
  expect(await queued()).toEqual([{ kind: "ack", alertId: 7 }]);
  expect(central.acked).toBe(false);
  expect(await flush(central.api())).toEqual([]);      // still down: kept
  expect(await queued()).toHaveLength(1);
  central.down = false;
  expect(await flush(central.api())).toEqual([]);
  expect(central.acked).toBe(true);
  expect(await queued()).toEqual([]);
});

test("an expired token is refreshed once; a revoked sign-in ends it", async () => {
  const central = new FakeCentral();
  await central.api("stale", "good").alerts();
  expect(central.requests.map((r) => r.token)).toEqual(["stale", "good"]);
  await expect(central.api("stale", null).alerts()).rejects.toThrow("signed out");
  await waitFor(() => expect(central.requests).toHaveLength(3));
});
