// Placeholder: the page proper is written on the `web` branch.
"use strict";
fetch("api/models")
  .then((r) => r.json())
  .then((j) => {
    document.getElementById("models").textContent =
      "Models: " + (j.models.map((m) => m.name).join(", ") || "none");
  });
