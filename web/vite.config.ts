/** Vite's configuration of the conference page: root web/, output web/dist
 *  (served by every node, src/server/web.ts). `npx vite web` serves it for
 *  development with the API of `npm start` proxied. */

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The demo's primary conference API (`confstate demo`, default ports). */
const DEMO_API = 'http://127.0.0.1:7480';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  // The SDK and the domain are bundled from ../src: nothing is copied from public/.
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Browsers with WebRTC perfect negotiation (setLocalDescription without arguments) all run ES2022.
    target: 'es2022',
    sourcemap: true,
    assetsInlineLimit: 0,
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/v1': { target: DEMO_API, ws: true },
      '/config.json': { target: DEMO_API },
    },
  },
});
