import { defineConfig } from "vitest/config";

/** `npm run dev` serves the app with hot reload and forwards the API and the WebSocket to a running `orrery up`. */
const hub = process.env.ORRERY_URL ?? "http://127.0.0.1:8090";

export default defineConfig({
  server: {
    proxy: {
      "/api": { target: hub, changeOrigin: true },
      "/ws": {
        target: hub,
        ws: true,
        changeOrigin: true,
        // The hub refuses WebSocket upgrades from other origins; through this proxy the page is its own.
        configure: (proxy) => {
          proxy.on("proxyReqWs", (request) => request.setHeader("Origin", hub));
        },
      },
    },
  },
  build: {
    outDir: "dist",
    target: "es2022",
    rollupOptions: {
      output: {
        // Libraries in chunks of their own, so an app change does not make browsers download the editor again.
        manualChunks(id: string) {
          if (id.includes("node_modules/@xterm/")) return "xterm";
          if (id.includes("node_modules/@codemirror/lang-") || id.includes("node_modules/@lezer/")) return undefined;
          if (id.includes("node_modules/@codemirror/") || id.includes("node_modules/style-mod") || id.includes("node_modules/w3c-keyname")) {
            return "codemirror";
          }
          return undefined;
        },
      },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
    testTimeout: 120_000,
  },
});
