import { defineConfig } from "vitest/config";

export default defineConfig({
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
