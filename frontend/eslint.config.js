import js from "@eslint/js";
import globals from "globals";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist", "dist-e2e", "e2e-output", "node_modules"] },
  {
    files: ["**/*.{ts,tsx}"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { ecmaVersion: 2022, globals: globals.browser },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // The auth kit is a library another app can take as is: it imports nothing from the app.
    files: ["src/auth/**/*.{ts,tsx}"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["../*", "**/src/*", "/src/*"],
              message: "src/auth/ is a self-contained kit: it must not import from the rest of the app.",
            },
          ],
        },
      ],
    },
  },
  {
    // The app reaches the kit through its public surface only.
    files: ["src/**/*.{ts,tsx}"],
    // Tests may use the kit's test doubles (src/auth/testing.ts).
    ignores: ["src/auth/**", "src/**/*.test.{ts,tsx}"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["**/auth/*"], message: "Import the auth kit from its index (\"./auth\")." }] },
      ],
    },
  },
  {
    files: ["e2e/**/*.mjs", "scripts/**/*.mjs", "*.js"],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
  },
);
