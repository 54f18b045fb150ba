export { type CompiledTemplate, compileTemplate, renderRequest } from '../templating/compile.js';
export { type ParamValue, resolveParams } from '../templating/params.js';
export { type TemplateDefinition, templateSchema } from '../templating/schema.js';
export { adminTemplateRoutes } from './admin-routes.js';
export { TemplateRegistry } from './registry.js';
export { templateRoutes } from './routes.js';
