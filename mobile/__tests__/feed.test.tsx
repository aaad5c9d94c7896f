import AsyncStorage from "@react-native-async-storage/async-storage";
import { fireEvent, render, screen, waitFor } from "@testing-library/react-native";

import { textsFor } from "../src/i18n";
import { Feed } from "../src/screens/Feed";
import { EVENT, FakeCentral } from "../test-support/fakeCentral";

const colors = { background: "#fff", card: "#fff", text: "#000", muted: "#666", accent: "#00f", danger: "#f00",
                 ok: "#0a0", border: "#ccc" };

beforeEach(async () => { await AsyncStorage.clear(); });

test("the feed shows open alerts then events, and a verdict filter asks central for it", async () => {
  const central = new FakeCentral();
  const onEvent = jest.fn();
  render(<Feed api={central.api()} texts={textsFor("en-GB")} colors={colors} onAlert={jest.fn()} onEvent={onEvent} />);
  expect(await screen.findByText("Camera offline: gate-01/gate")).toBeTruthy();
  expect(screen.getByText(/person · gate · north/)).toBeTruthy();
  fireEvent.press(screen.getByTestId("verdict-not_confirmed"));
  await waitFor(() => expect(central.requests.some((r) => r.path.includes("verdict=not_confirmed"))).toBe(true));
  fireEvent(screen.getByTestId("filter-camera"), "endEditing", { nativeEvent: { text: "gate" } });
  await waitFor(() => expect(central.requests.some((r) => r.path.includes("camera=gate"))).toBe(true));
  fireEvent.press(screen.getByTestId(`event-${EVENT.event_id}`));
  expect(onEvent).toHaveBeenCalledWith(EVENT);
});

test("offline, the last feed saved on the phone is shown with a banner", async () => {
  const central = new FakeCentral();
  const first = render(<Feed api={central.api()} texts={textsFor("pt-BR")} colors={colors} onAlert={jest.fn()} onEvent={jest.fn()} />);
  expect(await screen.findByText("Câmera offline: gate-01/gate")).toBeTruthy();
  first.unmount();
  central.down = true;
  render(<Feed api={central.api()} texts={textsFor("pt-BR")} colors={colors} onAlert={jest.fn()} onEvent={jest.fn()} />);
  expect(await screen.findByTestId("offline")).toHaveTextContent("Sem conexão: mostrando o último feed");
  expect(screen.getByText("Câmera offline: gate-01/gate")).toBeTruthy();
});
