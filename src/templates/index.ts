export { adminTemplateRoutes } from './admin-routes.js';
export { type CompiledTemplate, compileTemplate, renderRequest } from './compile.js';
export { type ParamValue, resolveParams } from './params.js';
export { TemplateRegistry } from './registry.js';
export { templateRoutes } from './routes.js';
export { type TemplateDefinition, templateSchema } from './schema.js';
