/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// dist/ is compiled into the scope binary (cmake/webui.cmake) and served at /; hashed files
// under /assets/ are cached for a year, index.html never.
export default defineConfig({
  plugins: [vue()],
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    // No inline <script>: scope serves the UI under a CSP without 'unsafe-inline' scripts.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 900,
    rollupOptions: {
      output: {
        manualChunks: (id) => (id.includes('node_modules/echarts') || id.includes('node_modules/zrender') ? 'echarts' : undefined),
      },
    },
  },
  server: {
    // ws: the live stream (/api/v1/live) is a WebSocket.
    proxy: { '/api': { target: process.env.SCOPE_URL ?? 'http://127.0.0.1:18080', ws: true } },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
})
