import { render, screen } from "@testing-library/react-native";

import { textsFor } from "../src/i18n";
import { Sites } from "../src/screens/Sites";
import { FakeCentral } from "../test-support/fakeCentral";

const colors = { background: "#fff", card: "#fff", text: "#000", muted: "#666", accent: "#00f", danger: "#f00",
                 ok: "#0a0", border: "#ccc" };

test("sites list their devices with each camera's health", async () => {
  render(<Sites api={new FakeCentral().api()} texts={textsFor("en")} colors={colors} />);
  const north = await screen.findByTestId("site-north");
  expect(north).toHaveTextContent(/Site: north/);
  expect(north).toHaveTextContent(/gate: online/);
  expect(north).toHaveTextContent(/yard: reconnecting/);
  expect(screen.getByTestId("site-—")).toHaveTextContent(/dock-02 · —/);
});
