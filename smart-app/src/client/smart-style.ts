/**
 * Applies the EHR's SMART style (SMART App Launch 2.2, "Styling": the JSON behind `smart_style_url`)
 * as CSS custom properties. Only values of a safe form are kept, because the JSON comes from another
 * server and its strings end up in CSS: colors in hex notation, sizes in px, em or rem, and font lists
 * of letters, digits, spaces, commas, hyphens and quotes.
 */

const COLOR_PATTERN = /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
const DIMENSION_PATTERN = /^\d{1,3}(?:\.\d{1,3})?(?:px|em|rem)$/;
const FONT_PATTERN = /^[A-Za-z0-9 ,'"-]{1,200}$/;

/** SMART style properties this app uses, with the CSS custom property each one sets. */
const STYLE_PROPERTIES: Record<string, { variable: string; pattern: RegExp }> = {
  color_background: { variable: '--smart-color-background', pattern: COLOR_PATTERN },
  color_text: { variable: '--smart-color-text', pattern: COLOR_PATTERN },
  color_highlight: { variable: '--smart-color-highlight', pattern: COLOR_PATTERN },
  color_error: { variable: '--smart-color-error', pattern: COLOR_PATTERN },
  dim_border_radius: { variable: '--smart-border-radius', pattern: DIMENSION_PATTERN },
  font_family_body: { variable: '--smart-font-body', pattern: FONT_PATTERN },
  font_family_heading: { variable: '--smart-font-heading', pattern: FONT_PATTERN },
};

/**
 * Converts a SMART style document to CSS custom properties, dropping unknown keys and unsafe values.
 * @param style - The parsed JSON.
 * @returns Property names and values, such as `{ '--smart-color-text': '#1a1a1a' }`.
 */
export function smartStyleVariables(style: unknown): Record<string, string> {
  const variables: Record<string, string> = {};
  if (typeof style !== 'object' || style === null) {
    return variables;
  }
  for (const [key, value] of Object.entries(style)) {
    const property = STYLE_PROPERTIES[key];
    if (property !== undefined && typeof value === 'string' && property.pattern.test(value.trim())) {
      variables[property.variable] = value.trim();
    }
  }
  return variables;
}

/**
 * Fetches the style JSON and sets its variables on the document root. A failure leaves the app's own
 * style in place, because the style is cosmetic.
 * @returns The number of variables applied.
 */
export async function applySmartStyle(styleUrl: unknown, root: HTMLElement): Promise<number> {
  if (typeof styleUrl !== 'string' || !/^https?:\/\//.test(styleUrl)) {
    return 0;
  }
  try {
    const response = await fetch(styleUrl, { credentials: 'omit', signal: AbortSignal.timeout(5_000) });
    if (!response.ok) {
      return 0;
    }
    const variables = smartStyleVariables(await response.json());
    for (const [name, value] of Object.entries(variables)) {
      root.style.setProperty(name, value);
    }
    return Object.keys(variables).length;
  } catch {
    return 0;
  }
}
