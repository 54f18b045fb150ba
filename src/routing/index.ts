export { applyRouteParams, fillsTemperature } from './params.js';
export { type Route, type RouteParams, Router, type Target } from './router.js';
