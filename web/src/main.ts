/** The browser app's entry point: styles, then the app on `#app`. */
import "./styles.css";
import { App } from "./app/app";

const root = document.querySelector<HTMLElement>("#app");
if (root !== null) void new App(root).start();
