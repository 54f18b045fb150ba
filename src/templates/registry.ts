import type { TemplateStore } from '../store/index.js';
import { type CompiledTemplate, compileTemplate } from '../templating/compile.js';
import { type TemplateDefinition, templateSchema } from '../templating/schema.js';

/**
 * The templates a gateway can run: those of the configuration file (replaced on SIGHUP) and the
 * newest version of each stored one (re-read when the store changes). A name in the file wins:
 * the admin API cannot shadow or change a file template.
 */
export class TemplateRegistry {
  private file = new Map<string, CompiledTemplate>();
  private stored = new Map<string, CompiledTemplate>();
  /** The read in progress (its failure already reported to its callers), after which the next starts. */
  private reading: Promise<void> = Promise.resolve();
  /** The read waiting for it, shared by every `refresh` called meanwhile. */
  private queued: Promise<void> | undefined;

  constructor(
    private readonly store: TemplateStore,
    /** A stored definition this version cannot load (written by a newer Keyward, say): skipped. */
    private readonly onInvalid: (name: string, version: number, message: string) => void,
  ) {}

  /** The file's templates, already checked by the configuration schema. */
  setFileTemplates(definitions: readonly TemplateDefinition[]): void {
    this.file = new Map(definitions.map((d) => [d.name, compileTemplate(d, 'file', 0)]));
  }

  /**
   * Re-reads the stored templates. One read runs at a time, and calls made meanwhile share one read
   * that starts after it: two reads at once (an admin save and the store-change poll) could finish
   * out of order and put back the list from before the save.
   */
  refresh(): Promise<void> {
    this.queued ??= this.reading.then(() => {
      this.queued = undefined;
      return this.load();
    });
    this.reading = this.queued.catch(() => undefined);
    return this.queued;
  }

  private async load(): Promise<void> {
    const next = new Map<string, CompiledTemplate>();
    for (const record of await this.store.latest()) {
      // The store changes with every audit batch another process writes: only new versions compile.
      const known = this.stored.get(record.name);
      if (known?.version === record.version) {
        next.set(record.name, known);
        continue;
      }
      const parsed = templateSchema.safeParse({ ...record.definition, name: record.name });
      if (!parsed.success) {
        this.onInvalid(record.name, record.version, parsed.error.issues[0]?.message ?? 'invalid');
        continue;
      }
      next.set(record.name, compileTemplate(parsed.data, 'store', record.version));
    }
    this.stored = next;
  }

  isFileTemplate(name: string): boolean {
    return this.file.has(name);
  }

  get(name: string): CompiledTemplate | undefined {
    return this.file.get(name) ?? this.stored.get(name);
  }

  list(): CompiledTemplate[] {
    const all = new Map(this.stored);
    for (const [name, template] of this.file) all.set(name, template);
    return [...all.values()].sort((a, b) => a.definition.name.localeCompare(b.definition.name));
  }
}
