// `node --import` this file to record the npm packages the process loads (see package-hook.mjs).
import { register } from 'node:module';

register('./package-hook.mjs', import.meta.url);
