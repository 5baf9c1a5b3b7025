// The data module the playground build generates from fixtures/ (src/playground/build.ts).
declare module 'meshc:fixtures' {
  export interface Scenario {
    /** The fixtures/ directory name. */
    name: string;
    /** One line from fixtures/README.md, or ''. */
    about: string;
    /** The scenario's files joined as one multi-document YAML text. */
    manifests: string;
  }
  export const scenarios: Scenario[];
  /** The scenario the page opens with. */
  export const seedScenario: string;
  /** fixtures/tests/product-api.tests.yaml without its `manifests` key. */
  export const sampleTests: string;
}
