// @vitest-environment node
import { ESLint } from "eslint";
import { expect, it } from "vitest";

it("eslint refuses an import from the app inside the kit, and a deep import into the kit from the app", async () => {
  const eslint = new ESLint();
  const [inKit] = await eslint.lintText('import { config } from "../config";\nexport const x = config;\n', {
    filePath: "src/auth/leak.ts",
  });
  expect(inKit?.messages.map((m) => m.ruleId)).toContain("no-restricted-imports");
  const [inApp] = await eslint.lintText('import { AuthClient } from "./auth/client";\nexport const x = AuthClient;\n', {
    filePath: "src/leak.ts",
  });
  expect(inApp?.messages.map((m) => m.ruleId)).toContain("no-restricted-imports");
  const [ok] = await eslint.lintText('import { AuthClient } from "./auth";\nexport const x = AuthClient;\n', {
    filePath: "src/fine.ts",
  });
  expect(ok?.messages).toEqual([]);
}, 30_000);
