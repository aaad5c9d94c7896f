import { textsFor } from "../src/i18n";

test("pt-BR by the phone's language, English otherwise", () => {
  expect(textsFor("pt-BR").acknowledge).toBe("Reconhecer");
  expect(textsFor("pt-PT").signIn).toBe("Entrar");
  expect(textsFor("en-GB").acknowledge).toBe("Acknowledge");
  expect(textsFor("de-DE").acknowledge).toBe("Acknowledge");
  expect(textsFor(undefined).alerts).toBe("Alerts");
});
