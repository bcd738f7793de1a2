/**
 * HTML of the login, consent and EHR simulator pages. Every interpolated value is escaped by the `html`
 * tag unless it is already {@link SafeHtml}, so request data can never inject markup.
 */

/** Markup that is already escaped. */
export class SafeHtml {
  constructor(readonly value: string) {}
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

type HtmlValue = string | number | SafeHtml | SafeHtml[] | undefined | null | false;

/** Template tag that escapes every interpolated value; arrays of SafeHtml are joined. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    if (value instanceof SafeHtml) {
      out += value.value;
    } else if (Array.isArray(value)) {
      out += value.map((item) => item.value).join('');
    } else if (value !== undefined && value !== null && value !== false) {
      out += escapeHtml(String(value));
    }
    out += strings[index + 1] ?? '';
  });
  return new SafeHtml(out);
}

const STYLE = `
body { font-family: system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 0; line-height: 1.4; }
main { max-width: 40rem; margin: 0 auto; padding: 1rem 1.5rem; }
label { display: block; margin-top: 0.75rem; font-weight: 600; }
input[type=text], input[type=password] { font-size: 1rem; padding: 0.35rem; width: 100%; max-width: 20rem; }
button { font-size: 1rem; padding: 0.4rem 1rem; margin: 1rem 0.5rem 0 0; }
fieldset { margin-top: 1rem; }
.error { border-left: 6px solid #a4000f; padding: 0.25rem 0.75rem; }
.ehr-banner { background: #0b3d66; color: #fff; padding: 0.5rem 1.5rem; }
iframe { width: 100%; height: 40rem; border: 1px solid #767676; }
code { background: #f0f0f0; padding: 0 0.25rem; }
`;

/** Renders a whole page with a heading. */
export function renderPage(title: string, body: SafeHtml, wide = false): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
        <style>
          ${new SafeHtml(STYLE)}${new SafeHtml(wide ? 'main { max-width: 80rem; }' : '')}
        </style>
      </head>
      <body>
        ${body}
      </body>
    </html> `.value;
}
