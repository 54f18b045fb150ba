import type { Config } from '../config/index.js';
import type { Logger } from '../observability/index.js';
import type { Store } from '../store/index.js';
import { TemplateRegistry } from '../templates/index.js';

/** The prompt templates: the configuration file's, then the store's (a broken stored one is skipped). */
export async function loadTemplates(config: Config, store: Store, logger: Logger): Promise<TemplateRegistry> {
  const templates = new TemplateRegistry(store.templates, (name, version, message) =>
    logger.error(
      { template: name, version },
      `a stored template cannot be loaded and is skipped: ${message}`,
    ),
  );
  templates.setFileTemplates(config.templates);
  await templates.refresh();
  return templates;
}
