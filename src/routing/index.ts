export { type Route, Router, type Target } from './router.js';
