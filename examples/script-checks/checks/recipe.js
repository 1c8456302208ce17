// A script check in JavaScript: the answer is a recipe that fits the time
// limit. It answers with its exit status alone: 0 pass, 1 fail (the reason
// on stderr is shown in the report).
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const check = JSON.parse(input);
  const recipe = JSON.parse(check.output);
  const limit = check.case.vars.max_minutes;
  if (!Array.isArray(recipe.steps) || recipe.steps.length === 0) {
    console.error("no steps");
    process.exit(1);
  }
  if (recipe.minutes > limit) {
    console.error(`takes ${recipe.minutes} minutes (at most ${limit})`);
    process.exit(1);
  }
  process.exit(0);
});
