// The machines these run on are shared and loaded: screens are waited for by condition, with room.
import { configure } from "@testing-library/react-native";

configure({ asyncUtilTimeout: 15000 });
