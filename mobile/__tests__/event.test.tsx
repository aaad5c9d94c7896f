import { render, screen } from "@testing-library/react-native";

import { textsFor } from "../src/i18n";
import { EventScreen } from "../src/screens/EventScreen";
import { EVENT, FakeCentral } from "../test-support/fakeCentral";

// The player itself is expo-video's native view; here, what it is given to stream.
jest.mock("../src/components/ClipPlayer", () => {
  const { Text } = jest.requireActual("react-native");
  return { ClipPlayer: ({ url }: { url: string }) => <Text testID="clip">{url}</Text> };
});

const colors = { background: "#fff", card: "#fff", text: "#000", muted: "#666", accent: "#00f", danger: "#f00",
                 ok: "#0a0", border: "#ccc" };

test("an event shows central's verdict and streams its clip from the presigned link", async () => {
  const central = new FakeCentral();
  render(<EventScreen api={central.api()} event={EVENT} texts={textsFor("pt-BR")} colors={colors} />);
  expect(await screen.findByTestId("verdict")).toHaveTextContent("Veredito: não confirmado");
  expect(await screen.findByTestId("clip")).toHaveTextContent("http://bucket/clip.mp4?X-Amz-Signature=s");
  expect(screen.queryByTestId("thumbnail")).toBeNull();     // central has none: no empty frame
});
