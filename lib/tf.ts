/**
 * The one place that pins TensorFlow.js. Every module of the library imports `tf` from here, so a
 * program that imports `mod.ts` by URL needs no import map.
 *
 * @module
 */
import * as tf from "npm:@tensorflow/tfjs@4.22.0";

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
