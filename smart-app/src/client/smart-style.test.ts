import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { smartStyleVariables } from './smart-style.js';

void describe('smartStyleVariables', () => {
  void it('maps known style properties', () => {
    assert.deepEqual(
      smartStyleVariables({
        color_background: '#f4f7fa',
        color_text: '#1A1A1A',
        dim_border_radius: '4px',
        font_family_body: "'Segoe UI', Roboto, sans-serif",
      }),
      {
        '--smart-color-background': '#f4f7fa',
        '--smart-color-text': '#1A1A1A',
        '--smart-border-radius': '4px',
        '--smart-font-body': "'Segoe UI', Roboto, sans-serif",
      }
    );
  });

  void it('drops unsafe and unknown values', () => {
    assert.deepEqual(
      smartStyleVariables({
        color_background: 'red; background-image: url(https://example.org/x)',
        color_text: 'url(javascript:alert(1))',
        dim_border_radius: 'calc(100vw)',
        font_family_body: 'Arial; } body { display: none',
        color_unknown: '#000000',
        color_highlight: 42,
      }),
      {}
    );
  });

  void it('ignores a document that is not an object', () => {
    assert.deepEqual(smartStyleVariables('#ffffff'), {});
    assert.deepEqual(smartStyleVariables(null), {});
  });
});
