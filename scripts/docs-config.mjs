// Writes docs/config.md from the site file's schema (run through `npm run docs:config`,
// which builds first). test/config/reference.test.ts fails when the committed file differs.
import { writeFileSync } from 'node:fs';
import { configReference } from '../dist/config/reference.js';

writeFileSync(new URL('../docs/config.md', import.meta.url), configReference());
console.log('wrote docs/config.md');
