// AsyncStorage's own in-memory mock (the offline cache and queue run on it in tests).
jest.mock("@react-native-async-storage/async-storage", () =>
  require("@react-native-async-storage/async-storage/jest/async-storage-mock"));
